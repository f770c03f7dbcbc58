// The state directory: what the gateway keeps between runs (today, the generated gateway token).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface GatewayToken {
  token: string;
  path: string;
  /** True when this start created it: the only time it is printed. */
  generated: boolean;
}

export async function loadOrCreateToken(stateDir: string): Promise<GatewayToken> {
  const path = join(stateDir, 'gateway-token');
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token) return { token, path, generated: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  // 'wx' refuses to overwrite a token another process wrote meanwhile.
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, path, generated: true };
}
