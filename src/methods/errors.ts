// The error a method's handler throws to answer its request with an error of the protocol's.
import type { ErrorCode, ErrorShape } from '../../machines/protocol.js';

export interface MethodErrorOptions {
  details?: unknown;
  /** The client may try again (with `retryAfterMs`, after that long). */
  retryable?: boolean;
  retryAfterMs?: number;
}

/**
 * Thrown by a handler, it becomes the error response: `throw new MethodError('INVALID_REQUEST', 'no such item',
 * { details: { code: 'ITEM_NOT_FOUND' } })`. Anything else a handler throws is answered `UNAVAILABLE` ("internal
 * error") and logged, so no stack or message of the program's leaks to a client.
 */
export class MethodError extends Error {
  override readonly name = 'MethodError';
  readonly details: unknown;
  readonly retryable: boolean | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: MethodErrorOptions = {},
  ) {
    super(message);
    this.details = options.details;
    this.retryable = options.retryable;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** The error as the protocol's `error` field carries it. */
  toShape(): ErrorShape {
    const shape: ErrorShape = { code: this.code, message: this.message };
    if (this.details !== undefined) shape.details = this.details;
    if (this.retryable !== undefined) shape.retryable = this.retryable;
    if (this.retryAfterMs !== undefined) shape.retryAfterMs = this.retryAfterMs;
    return shape;
  }

  static from(shape: ErrorShape): MethodError {
    return new MethodError(shape.code, shape.message, {
      ...(shape.details !== undefined ? { details: shape.details } : {}),
      ...(shape.retryable !== undefined ? { retryable: shape.retryable } : {}),
      ...(shape.retryAfterMs !== undefined ? { retryAfterMs: shape.retryAfterMs } : {}),
    });
  }
}
