// The rules that keep pins in sync with the video (static/player/sync.js): node --test tests/js/
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  Delayed,
  DelayEstimate,
  fragmentStartMs,
  MAX_DELAY_MS,
} from "../../static/player/sync.js";

describe("fragmentStartMs", () => {
  it("reads the 13-digit Unix ms at the end of an nginx-rtmp fragment name", () => {
    assert.equal(fragmentStartMs("show-7-1796159388721.ts"), 1796159388721);
    assert.equal(
      fragmentStartMs("https://media.example/hls/show-7/show-7-1796159388721.ts"),
      1796159388721,
    );
  });

  it("allows a query string or a fragment after the name", () => {
    assert.equal(fragmentStartMs("/hls/show-7-1796159388721.ts?token=abc&x=1"), 1796159388721);
    assert.equal(fragmentStartMs("/hls/show-7-1796159388721.ts#t"), 1796159388721);
  });

  it("refuses other digit counts", () => {
    assert.equal(fragmentStartMs("show-7-179615938872.ts"), null); // 12
    assert.equal(fragmentStartMs("show-7-17961593887210.ts"), null); // 14
    assert.equal(fragmentStartMs("show-71796159388721.ts"), null); // no dash
  });

  it("is null without a time in the name", () => {
    assert.equal(fragmentStartMs("segment42.ts"), null);
    assert.equal(fragmentStartMs("index3.ts"), null);
    assert.equal(fragmentStartMs("show-7-1796159388721.m4s"), null);
    assert.equal(fragmentStartMs("/show-7-1796159388721.ts/other.ts"), null);
    assert.equal(fragmentStartMs(""), null);
    assert.equal(fragmentStartMs(undefined), null);
    assert.equal(fragmentStartMs(null), null);
  });
});

describe("DelayEstimate", () => {
  it("is null without samples", () => {
    assert.equal(new DelayEstimate().value, null);
  });

  it("is the median of the samples (even count: the middle two's mean)", () => {
    const d = new DelayEstimate();
    for (const s of [5000, 9000, 4000]) d.add(s);
    assert.equal(d.value, 5000);
    d.add(6000);
    assert.equal(d.value, 5500);
  });

  it("ignores one wild sample", () => {
    const d = new DelayEstimate();
    for (const s of [8000, 8100, 7900, 55000, 8050]) d.add(s);
    assert.equal(d.value, 8050);
  });

  it("keeps only the last 9 samples", () => {
    const d = new DelayEstimate();
    for (let i = 0; i < 9; i++) d.add(1000);
    for (let i = 0; i < 5; i++) d.add(9000);
    assert.equal(d.value, 9000); // 4 × 1000, 5 × 9000
    const small = new DelayEstimate(3);
    for (const s of [1, 2, 3, 100, 200]) small.add(s);
    assert.equal(small.value, 100);
  });

  it("is clamped to [0, 60000] and an integer", () => {
    const d = new DelayEstimate();
    d.add(-300);
    assert.equal(d.value, 0);
    d.reset();
    d.add(90000);
    assert.equal(d.value, MAX_DELAY_MS);
    assert.equal(MAX_DELAY_MS, 60000);
    d.reset();
    d.add(1234.6);
    assert.equal(d.value, 1235);
  });

  it("skips samples that are not numbers", () => {
    const d = new DelayEstimate();
    d.add(NaN);
    d.add(Infinity);
    d.add(undefined);
    assert.equal(d.value, null);
  });

  it("reset forgets everything", () => {
    const d = new DelayEstimate();
    d.add(4000);
    d.reset();
    assert.equal(d.value, null);
  });
});

function recorder() {
  const seen = [];
  return { seen, note: (name) => () => seen.push(name) };
}

describe("Delayed", () => {
  it("shows everything with one offset, in order", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.push(1200, note("sold_out"));
    q.release(5900, 5000);
    assert.deepEqual(seen, []);
    q.release(6000, 5000);
    assert.deepEqual(seen, ["pin"]);
    q.release(6199, 5000);
    assert.deepEqual(seen, ["pin"]);
    q.release(6200, 5000);
    assert.deepEqual(seen, ["pin", "sold_out"]);
    assert.equal(q.size, 0);
  });

  it("releases several due at once in push order", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.push(1100, note("units"));
    q.push(1200, note("sold_out"));
    q.push(9000, note("unpin"));
    q.release(10000, 5000);
    assert.deepEqual(seen, ["pin", "units", "sold_out"]);
    assert.equal(q.size, 1);
  });

  it("never releases a later-pushed event before an earlier one, whatever its time", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(2000, note("pin"));
    q.push(1500, note("sold_out")); // stamped earlier (another server clock), pushed later
    q.release(6600, 5000); // sold_out alone would be due
    assert.deepEqual(seen, []);
    q.release(7000, 5000);
    assert.deepEqual(seen, ["pin", "sold_out"]);
  });

  it("keeps the order when the delay shrinks in between", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.push(1200, note("sold_out"));
    q.release(4000, 8000);
    assert.deepEqual(seen, []);
    q.release(4100, 2900); // both due now: still pin first
    assert.deepEqual(seen, ["pin", "sold_out"]);
  });

  it("without an estimate (delay null or 0) releases at once", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.release(1000, null);
    q.push(1000, note("unpin"));
    q.release(1000, 0);
    assert.deepEqual(seen, ["pin", "unpin"]);
  });

  it("treats an event without a time as due, but still in order", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.push(undefined, note("units"));
    q.release(3000, 5000);
    assert.deepEqual(seen, []);
    q.release(6000, 5000);
    assert.deepEqual(seen, ["pin", "units"]);
  });

  it("flush runs everything held, in order", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.push(1200, note("sold_out"));
    q.flush();
    assert.deepEqual(seen, ["pin", "sold_out"]);
    assert.equal(q.size, 0);
    q.release(1e15, 0);
    assert.deepEqual(seen, ["pin", "sold_out"]);
  });

  it("clear drops everything held", () => {
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, note("pin"));
    q.clear();
    q.release(1e15, 0);
    q.flush();
    assert.deepEqual(seen, []);
  });

  it("one failing event does not hold back the rest", (t) => {
    t.mock.method(console, "error", () => {});
    const { seen, note } = recorder();
    const q = new Delayed();
    q.push(1000, () => {
      throw new Error("boom");
    });
    q.push(1100, note("unpin"));
    q.release(2000, 0);
    assert.deepEqual(seen, ["unpin"]);
    assert.equal(console.error.mock.callCount(), 1);
  });
});
