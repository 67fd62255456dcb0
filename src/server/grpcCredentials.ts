import { ServerCredentials } from '@grpc/grpc-js';
import type { TlsMaterial } from '../transport/certificate.js';

/** TLS credentials for a separate gRPC port, from the broker's own certificate. */
export function credentials(tls: TlsMaterial): ServerCredentials {
  return ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false);
}
