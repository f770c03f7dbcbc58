// One read-only pass over a text frame's bytes before it is parsed (before it is even made a string): how many
// containers and values it holds, how deep it nests, and where its top-level `id` and `method` strings are. A
// byte loop that allocates nothing per node (strings are skipped with indexOf), so what JSON.parse would cost
// is known, and bounded, before it runs: a frame over a limit is refused without ever being decoded or parsed.
// The bytes are UTF-8, whose multi-byte characters have no byte below 0x80: every quote, bracket, comma and
// backslash byte is that character. The scan does not validate JSON (JSON.parse still does); on text that is
// not JSON its counts are only what the text looks like.

export interface FrameScanLimits {
  /** Containers (objects and arrays) may nest this deep; the frame object itself is level 1. */
  maxDepth: number;
  /** Objects and arrays in the whole frame. */
  maxContainers: number;
  /** Values in the whole frame: the frame itself and every array element and object member (keys are not counted). */
  maxValues: number;
}

export type FrameScanExceeded = 'depth' | 'containers' | 'values';

/**
 * What a scan found. One object is reused by every scan (`scanFrame` returns it): read it before the next
 * scan, copy what must outlive it.
 */
export interface FrameScan {
  /** The deepest nesting seen (up to where the scan stopped counting). */
  depth: number;
  containers: number;
  values: number;
  /** The first limit the frame went over, or undefined. Counting stops there. */
  exceeded: FrameScanExceeded | undefined;
  /** The top-level `id` string's contents: bytes idStart to idEnd (exclusive); -1 when the frame has none. */
  idStart: number;
  idEnd: number;
  /** The top-level `method` string's contents, likewise. */
  methodStart: number;
  methodEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const SPACE = 0x20;

const KEY_OTHER = 0;
const KEY_ID = 1;
const KEY_METHOD = 2;

const shared: FrameScan = { depth: 0, containers: 0, values: 0, exceeded: undefined, idStart: -1, idEnd: -1, methodStart: -1, methodEnd: -1 };

/** The index of the quote that ends the string whose contents start at `start` (bytes.length when unterminated). */
function stringEnd(bytes: Uint8Array, start: number): number {
  let at = start;
  for (;;) {
    const quote = bytes.indexOf(QUOTE, at);
    if (quote < 0) return bytes.length;
    let backslashes = 0;
    while (quote - backslashes - 1 >= start && bytes[quote - backslashes - 1] === BACKSLASH) backslashes++;
    if ((backslashes & 1) === 0) return quote;
    at = quote + 1;
  }
}

const METHOD = [0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64];

/** Which top-level key the raw string of bytes start to end is (an escaped spelling of `id` counts as another key). */
function keyOf(bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  if (length === 2 && bytes[start] === 0x69 && bytes[start + 1] === 0x64) return KEY_ID;
  if (length !== 6) return KEY_OTHER;
  for (let i = 0; i < 6; i++) if (bytes[start + i] !== METHOD[i]) return KEY_OTHER;
  return KEY_METHOD;
}

/**
 * Scans a frame's bytes once. Counting stops at the first limit exceeded; the scan itself stops there too once the
 * top-level `id` is known (the refusal is answered with it), else it goes on looking for the id only.
 * Duplicate top-level keys: the last wins, as with JSON.parse.
 */
export function scanFrame(bytes: Uint8Array, limits: FrameScanLimits): FrameScan {
  const length = bytes.length;
  let depth = 0;
  let deepest = 0;
  let containers = 0;
  let values = 1; // the frame itself
  let exceeded: FrameScanExceeded | undefined;
  /** A container just opened and nothing in it yet: the next token is its first member. */
  let opened = false;
  let topIsObject = false;
  /** At depth 1 of the top-level object, after `{` or `,`: the next string is a key. */
  let expectKey = false;
  let key = KEY_OTHER;
  let idStart = -1;
  let idEnd = -1;
  let methodStart = -1;
  let methodEnd = -1;
  let at = 0;
  while (at < length) {
    const code = bytes[at]!;
    if (code <= SPACE) {
      at++;
      continue;
    }
    if (opened && code !== CLOSE_BRACE && code !== CLOSE_BRACKET) {
      opened = false; // the container's first member
      if (exceeded === undefined && ++values > limits.maxValues) {
        exceeded = 'values';
        if (idStart >= 0) break;
      }
    }
    if (code === QUOTE) {
      const start = at + 1;
      const end = stringEnd(bytes, start);
      if (depth === 1 && topIsObject) {
        if (expectKey) {
          key = keyOf(bytes, start, end);
          expectKey = false;
        } else if (key === KEY_ID) {
          idStart = start;
          idEnd = end;
          key = KEY_OTHER;
          if (exceeded !== undefined) break;
        } else if (key === KEY_METHOD) {
          methodStart = start;
          methodEnd = end;
          key = KEY_OTHER;
        }
      }
      at = end + 1;
      continue;
    }
    if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth++;
      if (depth === 1) {
        topIsObject = code === OPEN_BRACE;
        expectKey = topIsObject;
      } else if (depth === 2) {
        key = KEY_OTHER; // a top-level value that is a container: no id or method
      }
      opened = true;
      if (exceeded === undefined) {
        containers++;
        if (depth > deepest) deepest = depth;
        if (depth > limits.maxDepth) exceeded = 'depth';
        else if (containers > limits.maxContainers) exceeded = 'containers';
        if (exceeded !== undefined && idStart >= 0) break;
      }
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      opened = false;
      if (depth > 0) depth--;
    } else if (code === COMMA) {
      if (depth === 1 && topIsObject) {
        expectKey = true;
        key = KEY_OTHER;
      }
      if (exceeded === undefined && ++values > limits.maxValues) {
        exceeded = 'values';
        if (idStart >= 0) break;
      }
    } else if (depth === 1 && code !== 0x3a) {
      key = KEY_OTHER; // a scalar top-level value (number, true, ...): the key's value is not a string
    }
    at++;
  }
  shared.depth = deepest;
  shared.containers = containers;
  shared.values = values;
  shared.exceeded = exceeded;
  shared.idStart = idStart;
  shared.idEnd = idEnd;
  shared.methodStart = methodStart;
  shared.methodEnd = methodEnd;
  return shared;
}
