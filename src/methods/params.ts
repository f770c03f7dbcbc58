// Checks on a request's params before any handler sees them: their schema (how deep they nest was checked
// before the frame was parsed, src/protocol/frame-scan.ts).
import type { TSchema } from '@sinclair/typebox';
import type { TypeCheck } from '@sinclair/typebox/compiler';

/** One readable line about the first schema violation, naming its path: `/text: Expected string`. */
export function firstSchemaError(check: TypeCheck<TSchema>, value: unknown): string {
  const error = check.Errors(value).First();
  return error ? `${error.path || '/'}: ${error.message}` : 'invalid params';
}
