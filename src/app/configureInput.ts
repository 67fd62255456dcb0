/** What to import: a file (read a value at a time: it may be an old broker's whole registry) or a short text. */
export type ConfigureInput = { path: string } | { text: string };
