import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KeyedSlots } from "../../src/keyed-slots";

describe("keyed slots", () => {
  it("gives each key at most perKey slots, and frees them on release", () => {
    const slots = new KeyedSlots(2);
    expect(slots.tryTake("a")).toBe(true);
    expect(slots.tryTake("a")).toBe(true);
    expect(slots.tryTake("a")).toBe(false);
    expect(slots.tryTake("b")).toBe(true);
    slots.release("a");
    expect(slots.tryTake("a")).toBe(true);
    expect(slots.inUse("a")).toBe(2);
    slots.release("a");
    slots.release("a");
    slots.release("b");
    expect(slots.keys).toBe(0);
  });

  it("property: in use never exceeds perKey, and a key with nothing in use is forgotten", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ key: fc.constantFrom("a", "b", "c"), take: fc.boolean() }), { maxLength: 200 }),
        (perKey, steps) => {
          const slots = new KeyedSlots(perKey);
          const held = new Map<string, number>();
          for (const { key, take } of steps) {
            if (take) {
              const got = slots.tryTake(key);
              expect(got).toBe((held.get(key) ?? 0) < perKey);
              if (got) held.set(key, (held.get(key) ?? 0) + 1);
            } else if ((held.get(key) ?? 0) > 0) {
              slots.release(key);
              held.set(key, (held.get(key) ?? 0) - 1);
            }
            expect(slots.inUse(key)).toBe(held.get(key) ?? 0);
          }
          expect(slots.keys).toBe([...held.values()].filter((n) => n > 0).length);
        },
      ),
    );
  });
});
