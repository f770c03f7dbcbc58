// The errors the gateway's own API throws, each with a code a program can branch on (as `ws` and Node do).

export type GatewayErrorCode =
  /** An option's value was refused (a flag, a variable, or an option of createGateway). */
  | 'ERR_INVALID_OPTION'
  /** `method()` with a name that is built in or registered already, or that is not a method name. */
  | 'ERR_METHOD_EXISTS'
  | 'ERR_INVALID_METHOD'
  /** `broadcast()` or `event()` with a built-in event's name, or with no name. */
  | 'ERR_INVALID_EVENT'
  /** What must come before `listen()` came after it, or what needs a listening gateway came before. */
  | 'ERR_GATEWAY_STATE'
  /** The gateway could not listen where it was asked to. */
  | 'ERR_LISTEN';

export class GatewayError extends Error {
  override readonly name: string = 'GatewayError';
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An option's value was refused; the message names the flag, variable or option it came from. */
export class OptionError extends GatewayError {
  override readonly name = 'OptionError';
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message);
  }
}

/** The gateway could not listen where it was asked to (port in use, no permission, no such address). */
export class ListenError extends GatewayError {
  override readonly name = 'ListenError';
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    const why =
      cause.code === 'EADDRINUSE'
        ? 'the port is already in use; choose another with --port'
        : cause.code === 'EACCES'
          ? 'permission denied; choose a port above 1023 with --port'
          : cause.code === 'EADDRNOTAVAIL'
            ? 'this machine has no such address; check --host'
            : (cause.code ?? cause.message);
    super('ERR_LISTEN', `cannot listen on ${host}:${port}: ${why}`, { cause });
  }
}
