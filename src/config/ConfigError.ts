/** A configuration problem the operator must fix: printed as one line, never with a stack trace. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
