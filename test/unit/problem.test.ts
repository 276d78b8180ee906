import { describe, expect, it } from "vitest";
import { PROBLEM_BASE, Problem, type ProblemKind, validationProblem } from "../../src/problem";

const EXPECTED: Record<ProblemKind, { status: number; title: string }> = {
  validation: { status: 400, title: "Request failed validation" },
  "malformed-json": { status: 400, title: "Malformed JSON body" },
  unauthorized: { status: 401, title: "Missing or invalid bearer token" },
  "not-found": { status: 404, title: "Not found" },
  conflict: { status: 409, title: "Conflict" },
  "invalid-transition": { status: 409, title: "State transition not allowed" },
  "limit-exceeded": { status: 409, title: "Limit reached" },
  "payload-too-large": { status: 413, title: "Payload too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "rate-limited": { status: 429, title: "Too many requests" },
  "admin-disabled": { status: 503, title: "Admin API disabled" },
  internal: { status: 500, title: "Internal error" },
};

describe("Problem", () => {
  it("uses the documented type URI base", () => {
    expect(PROBLEM_BASE).toBe("https://sluice.dev/problems/");
  });

  it.each(Object.entries(EXPECTED) as [ProblemKind, { status: number; title: string }][])(
    "%s renders type, title, status and detail",
    (kind, { status, title }) => {
      const problem = new Problem(kind, "Something specific.");
      expect(problem.status).toBe(status);
      expect(problem.toBody()).toEqual({
        type: `https://sluice.dev/problems/${kind}`,
        title,
        status,
        detail: "Something specific.",
      });
    },
  );

  it("is an Error with a literal name and the detail as message", () => {
    const problem = new Problem("not-found", "No such task.");
    expect(problem).toBeInstanceOf(Error);
    expect(problem).toBeInstanceOf(Problem);
    expect(problem.name).toBe("Problem");
    expect(problem.message).toBe("No such task.");
    expect(problem.kind).toBe("not-found");
  });

  it("adds extensions as extra members", () => {
    const problem = new Problem("invalid-transition", "Cannot pause a succeeded task.", {
      extensions: { state: "succeeded" },
    });
    expect(problem.toBody()).toEqual({
      type: "https://sluice.dev/problems/invalid-transition",
      title: "State transition not allowed",
      status: 409,
      detail: "Cannot pause a succeeded task.",
      state: "succeeded",
    });
  });

  it("extensions cannot override the standard members", () => {
    const problem = new Problem("not-found", "No such task.", {
      extensions: { type: "about:blank", title: "x", status: 200, detail: "y", extra: 1 },
    });
    expect(problem.toBody()).toEqual({
      type: "https://sluice.dev/problems/not-found",
      title: "Not found",
      status: 404,
      detail: "No such task.",
      extra: 1,
    });
  });

  it("carries headers (e.g. Retry-After) and defaults to none", () => {
    const limited = new Problem("rate-limited", "Slow down.", { headers: { "Retry-After": "2" } });
    expect(limited.headers).toEqual({ "Retry-After": "2" });
    expect(limited.toBody()).not.toHaveProperty("Retry-After");
    expect(new Problem("internal", "x").headers).toEqual({});
    expect(new Problem("internal", "x").extensions).toEqual({});
  });

  it("a body never contains a stack trace", () => {
    const body = new Problem("internal", "Something went wrong.").toBody();
    expect(JSON.stringify(body)).not.toContain("at ");
    expect(body).not.toHaveProperty("stack");
  });
});

describe("validationProblem", () => {
  it("is a 400 validation problem with an errors array", () => {
    const errors = [
      { path: "timeoutMs", message: "Too small" },
      { path: "retry.maxAttempts", message: "Too big" },
    ];
    const problem = validationProblem(errors);
    expect(problem.status).toBe(400);
    expect(problem.toBody()).toEqual({
      type: "https://sluice.dev/problems/validation",
      title: "Request failed validation",
      status: 400,
      detail: "The request does not match the schema.",
      errors,
    });
  });

  it("takes a custom detail", () => {
    expect(validationProblem([], "A header has a bad value.").toBody().detail).toBe("A header has a bad value.");
  });
});
