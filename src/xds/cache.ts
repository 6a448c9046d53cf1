// Snapshot cache: node key -> current snapshot, with watchers that the ADS streams register.
// Knows nothing about Kubernetes (go-control-plane's cache/server split).
import type { Snapshot } from './snapshot.js';

export type SnapshotListener = (snapshot: Snapshot) => void;

export class SnapshotCache {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly listeners = new Map<string, Set<SnapshotListener>>();

  setSnapshot(nodeKey: string, snapshot: Snapshot): void {
    this.snapshots.set(nodeKey, snapshot);
    for (const l of this.listeners.get(nodeKey) ?? []) l(snapshot);
  }

  getSnapshot(nodeKey: string): Snapshot | undefined {
    return this.snapshots.get(nodeKey);
  }

  clearSnapshot(nodeKey: string): void {
    this.snapshots.delete(nodeKey);
  }

  nodeKeys(): string[] {
    return [...this.snapshots.keys()];
  }

  /** Calls listener on every later snapshot for nodeKey; returns the unsubscribe function. */
  watch(nodeKey: string, listener: SnapshotListener): () => void {
    let set = this.listeners.get(nodeKey);
    if (!set) {
      set = new Set();
      this.listeners.set(nodeKey, set);
    }
    set.add(listener);
    return (): void => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(nodeKey);
    };
  }
}
