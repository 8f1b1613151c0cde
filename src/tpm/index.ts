export { Tpm } from './client.js';
export { parseTpmAddress, defaultTpmAddress, type TpmAddress } from './address.js';
export {
  AK_TEMPLATE,
  EK_TEMPLATE_RSA,
  EK_TEMPLATE_ECC,
  EK_CERTIFICATE_INDEX,
  createAk,
  createEk,
  readEkCertificate,
} from './keys.js';
export { startSimulator, attachSimulator, type Simulator } from './simulator.js';
export {
  parsePublic,
  parsePublic2b,
  objectName,
  publicKeyObject,
  publicKeyPem,
  type PublicArea,
  type TpmPublic,
} from './public.js';
export { parseAttest } from './attest.js';
export { parseSignature, verifyTpmSignature } from './signature.js';
export { makeCredential } from './credential.js';
export { TpmResponseError } from './response-code.js';
export { TpmFormatError } from './marshal.js';
