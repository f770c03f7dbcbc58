// Checks on a request's params before any handler sees them: how deep they nest, and their schema.
import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';

/** Whether `value` nests objects or arrays more than `maxDepth` deep; iterative, and stops at the first too deep. */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** One readable line about the first schema violation, naming its path: `/text: Expected string`. */
export function firstSchemaError(check: TypeCheck<TSchema>, value: unknown): string {
  const error = check.Errors(value).First();
  return error ? `${error.path || '/'}: ${error.message}` : 'invalid params';
}
