import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** The .proto files of our services, relative to proto/. */
export const PROTO_FILES = ['bpbroker/v1/registry.proto', 'bpbroker/v1/ping.proto', 'bpbroker/v1/extension.proto'];

/**
 * proto/ of this package. Searched upward from this module because it runs from src/transport/grpc (tests)
 * and from dist/src/transport/grpc (installed package), and proto/ ships at the package root.
 */
export function findProtoDir(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, PROTO_FILES[0]!))) return candidate;
    if (dirname(dir) === dir) throw new Error(`proto/${PROTO_FILES[0]} not found above ${from}`);
  }
}

/**
 * Descriptors for server reflection, parsed from the shipped .proto files at start-up (a few milliseconds).
 * The .proto files are the one source: no descriptor-set artifact to build, ship and keep in step with them.
 * The health service's own .proto is included so generic tools can describe it too.
 */
export function loadReflectionDescriptors(protoDir: string = findProtoDir()): PackageDefinition {
  return loadSync([...PROTO_FILES.map((f) => join(protoDir, f)), healthProtoPath], { includeDirs: [protoDir] });
}
