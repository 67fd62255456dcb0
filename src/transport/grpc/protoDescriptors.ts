import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { fileDescriptorProtos } from '../../../generated/descriptors.js';

/**
 * Descriptors for server reflection. Ours are the FileDescriptorProtos buf compiled from proto/, embedded in
 * generated/ by `npm run generate`: one per .proto file, under its real name and with its comments (so
 * `grpcurl describe` shows the documentation), no .proto parsing or file lookup at start-up, and
 * check:generated keeps them in step with proto/. (Loading proto/ with proto-loader instead would merge the
 * package into one synthetic file and drop every comment.)
 * The health service's descriptor comes from grpc-health-check's own .proto, so tools can describe it too.
 */
export function loadReflectionDescriptors(): PackageDefinition {
  const ours = Object.values(fileDescriptorProtos).map((b64) => Buffer.from(b64, 'base64'));
  // @grpc/reflection reads only `fileDescriptorProtos` of each definition; one entry carries all our files.
  const bpbroker = { format: 'Protocol Buffer 3 DescriptorProto', type: {}, fileDescriptorProtos: ours };
  return { ...loadSync(healthProtoPath), 'bpbroker.v1': bpbroker } as unknown as PackageDefinition;
}
