/**
 * What the journal needs from the owner of bpbroker.json to keep its promise that an acknowledged write is in a
 * file the broker reads on its next start. The snapshotter implements it.
 */
export interface StorageGuard {
  /** Why the snapshot file is no longer the one the broker last wrote (removed, replaced), or undefined. */
  check(): Promise<string | undefined>;
  /**
   * Writes the whole registry as it is in memory (changes not yet acknowledged included) to bpbroker.json.
   * `captured` runs synchronously at the instant the registry is read: every change made before it is in the file.
   */
  persist(reason: string, captured: () => void): Promise<void>;
  /** Changes were undone because their writes failed: a snapshot read before that must not land. */
  undone(): void;
  /** Storage became unavailable (a reason) or available again (undefined): for the log. */
  availability(reason: string | undefined): void;
}
