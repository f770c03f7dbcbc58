// The events this gateway itself sends (the reference also pushes `health`; here health is a method only).
export const BUILTIN_EVENTS = [
  'connect.challenge',
  'presence',
  'tick',
  'shutdown',
  'node.invoke.request',
  'node.hostStats',
  'node.invoke.cancel',
  'node.pair.requested',
  'node.pair.resolved',
  'device.pair.requested',
  'device.pair.resolved',
  'device.pair.changed',
] as const;
