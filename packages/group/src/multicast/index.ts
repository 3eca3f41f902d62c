/**
 * Reliable multicast connections between two groups (seed 001, claims 36 and 37): the pure
 * endpoint role, its wire format inside runtime envelopes, and a thin actor around it.
 * docs/group-multicast.md describes the protocol, the host contract and the view interface.
 */
export * from './types.js';
export {
  attachPiggyback,
  bufferedMessages,
  connectionSettings,
  createEndpoint,
  deliveredEverywhere,
  detachPiggyback,
  sendAttachedNow,
  fireTimer,
  holdSends,
  installView,
  isAdmitted,
  isMulticastKind,
  knownView,
  membersBehindEpoch,
  missingFrom,
  multicast,
  needsSync,
  receivePacket,
  releaseSends,
  sizeRefusal,
  step,
  streamKey,
  takeEffects,
  type EndpointState,
  type MissingStream,
  type PeerState,
  type StepResult,
  type StreamState,
} from './endpoint.js';
export {
  containerHeaderBytes,
  encodedBytes,
  encodedBytesBound,
  ENCODED_DEPTH_MAX,
  numberBytes,
  stringBytes,
  type EncodedSize,
} from './size.js';
export * from './wire-format.js';
export * from './actor.js';
