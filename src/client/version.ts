// The client's own version, as it names itself in every connect (`client.version`).
export const CLIENT_VERSION = '0.1.0';
