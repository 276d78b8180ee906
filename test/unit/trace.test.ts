import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { childTraceparent, formatTraceparent, parseTraceparent, traceForSubmission } from "../../src/trace";

const VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("W3C traceparent", () => {
  it("parses the spec's example and formats it back", () => {
    const trace = parseTraceparent(VALID);
    expect(trace).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", parentId: "00f067aa0ba902b7", flags: "01" });
    expect(formatTraceparent(trace as NonNullable<typeof trace>)).toBe(VALID);
  });

  it.each([
    ["upper-case hex", VALID.toUpperCase()],
    ["all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["all-zero parent id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"],
    ["version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["version 00 with more fields", `${VALID}-extra`],
    ["short trace id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"],
    ["not hex", "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01"],
    ["empty", ""],
    ["huge", `00-${"a".repeat(1000)}`],
  ])("ignores %s", (_what, header) => {
    expect(parseTraceparent(header)).toBeUndefined();
  });

  it("reads a future version by its first four fields", () => {
    expect(parseTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later`)?.traceId).toBe(
      "4bf92f3577b34da6a3ce929d0e0e4736",
    );
  });

  it("keeps the submitter's trace, or starts a sampled one when none or an invalid one was sent", () => {
    expect(traceForSubmission(VALID)).toBe(VALID);
    for (const header of [undefined, null, "garbage"]) {
      const started = parseTraceparent(traceForSubmission(header));
      expect(started?.flags).toBe("01");
      expect(started?.traceId).toMatch(/^[0-9a-f]{32}$/);
    }
    // Two tasks without a trace get two traces.
    expect(traceForSubmission(undefined)).not.toBe(traceForSubmission(undefined));
  });

  it("each call is a child: the task's trace id and flags, a new parent id, never all zeros", () => {
    const child = parseTraceparent(childTraceparent(VALID));
    expect(child?.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(child?.flags).toBe("01");
    expect(child?.parentId).not.toBe("00f067aa0ba902b7");
    let calls = 0;
    const zeroFirst = (bytes: number) => (calls++ === 0 ? "00".repeat(bytes) : "ab".repeat(bytes));
    expect(parseTraceparent(childTraceparent(VALID, zeroFirst))?.parentId).toBe("abababababababab");
    expect(childTraceparent(undefined)).toBeUndefined();
  });

  it("whatever a client sends, the stored trace is a valid traceparent", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (header) => {
        expect(parseTraceparent(traceForSubmission(header))).toBeDefined();
      }),
    );
  });
});
