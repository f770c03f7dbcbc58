/** The gateway's version, reported in hello-ok and health; a test keeps it equal to package.json's. */
export const GATEWAY_VERSION = '0.1.0';
