import { describe, expect, it } from "vitest";
import { pickInvoker } from "../../src/scheduler";

describe("pickInvoker", () => {
  it("fills the first invoker with a free slot before touching the next", () => {
    expect(pickInvoker([0, 0, 0], 6)).toBe(0);
    expect(pickInvoker([5, 0, 0], 6)).toBe(0);
    expect(pickInvoker([6, 0, 0], 6)).toBe(1);
    expect(pickInvoker([6, 6, 3], 6)).toBe(2);
  });

  it("queues on the least loaded invoker when every one is full", () => {
    expect(pickInvoker([9, 7, 8], 6)).toBe(1);
    expect(pickInvoker([6, 6, 6], 6)).toBe(0);
  });
});
