// Pairing decisions: operators with `operator.pairing` list, approve, reject and remove devices and nodes.
import { Type } from '@sinclair/typebox';
import { forward, type Define, type Services } from './services.js';

const Id = Type.String({ minLength: 1 });
const PairRequestParams = Type.Object({ requestId: Id });
const NodeIdParams = Type.Object({ nodeId: Id });
const DeviceIdParams = Type.Object({ deviceId: Id });

export function definePairingMethods(define: Define, services: Services): void {
  const scope = 'operator.pairing' as const;
  /** `*.pair.approve|reject {requestId}`: a decision on a pending request. */
  const decision = (type: 'node.pair.approve' | 'node.pair.reject' | 'device.pair.reject') =>
    define(type, {
      scope,
      params: PairRequestParams,
      handle: ({ requestId: pairRequestId }, context) => forward(services, context, { type, pairRequestId }),
    });

  define('node.pair.list', { scope, handle: () => services().view.nodePairing() });
  decision('node.pair.approve');
  decision('node.pair.reject');
  define('node.pair.remove', {
    scope,
    params: NodeIdParams,
    handle: ({ nodeId }, context) => forward(services, context, { type: 'node.pair.remove', nodeId }),
  });

  define('device.pair.list', { scope, handle: () => services().view.devicePairing() });
  define('device.pair.approve', {
    scope,
    params: PairRequestParams,
    handle: ({ requestId: pairRequestId }, context) =>
      forward(services, context, { type: 'device.pair.approve', pairRequestId }),
  });
  decision('device.pair.reject');
  define('device.pair.remove', {
    scope,
    params: DeviceIdParams,
    handle: ({ deviceId }, context) => forward(services, context, { type: 'device.pair.remove', deviceId }),
  });
}
