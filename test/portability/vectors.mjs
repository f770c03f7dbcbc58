// The device proof of test/fixtures/conformance/node-host-connect.json (a real openclaw 2026.9.6 node
// host), inlined so that no runtime needs a file system to load it.
export const nodeHostVector = {
  challengeNonce: '81e5114b-c7dc-4400-a84f-2201d0d75c83',
  client: { id: 'node-host', mode: 'node', platform: 'linux', deviceFamily: 'Linux' },
  role: 'node',
  scopes: [],
  auth: { token: 'testtoken123' },
  device: {
    id: '9b38bb3be18d0f8bd1aa8e8b2b586d0f482adfe701a521c6831ab2d5d2e1fc27',
    publicKey: 'Pb_65Mrm5r8hEFtfoELDKmym0HUgh4f6Ww-bEYS5Du4',
    signature: 'rnHbLAxlQrZsZnVvOB-nQHDIa824JP0FIn7ZUofqMHVxdIWiY6z_-4S1MIGulqkJszj3qgyB40UFbhG07VWNBQ',
    signedAt: 1795579993641,
    nonce: '81e5114b-c7dc-4400-a84f-2201d0d75c83',
  },
  expect: {
    deviceId: '9b38bb3be18d0f8bd1aa8e8b2b586d0f482adfe701a521c6831ab2d5d2e1fc27',
    signatureVersion: 'v3',
    signedPayload:
      'v3|9b38bb3be18d0f8bd1aa8e8b2b586d0f482adfe701a521c6831ab2d5d2e1fc27|node-host|node|node||1795579993641|testtoken123|81e5114b-c7dc-4400-a84f-2201d0d75c83|linux|linux',
  },
};
