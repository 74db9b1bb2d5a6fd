// The few facts several components read: show status, who you are, moderation, connection.
// set() merges a patch and tells every subscriber which keys changed.

export function createStore(initial) {
  const state = { ...initial };
  const subscribers = new Set();
  return {
    state,
    set(patch) {
      const changed = Object.keys(patch).filter((key) => state[key] !== patch[key]);
      if (!changed.length) return;
      Object.assign(state, patch);
      for (const fn of subscribers) fn(state, changed);
    },
    /** fn(state, changedKeys); called once at once with every key. */
    subscribe(fn) {
      subscribers.add(fn);
      fn(state, Object.keys(state));
    },
  };
}
