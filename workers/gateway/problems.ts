/**
 * @module
 * Store refusals (src/results.ts) as problem+json, in one exhaustive `switch`: a new refusal breaks the build here
 * until it has an HTTP meaning.
 */

import { Problem } from "../../src/problem";
import type { Refusal } from "../../src/results";

/** `what` is the attempted operation in words ("cancel", "delete", …), for the 409 text. */
export function refusalProblem(refusal: Refusal, what: string): Problem {
  switch (refusal.reason) {
    case "not_found":
      return new Problem("not-found", "No such task.");
    case "conflict":
      return new Problem("invalid-transition", `Cannot ${what} a task that is ${refusal.state}.`, {
        extensions: { state: refusal.state },
      });
    case "delivery_conflict":
      return new Problem(
        "invalid-transition",
        `Only a failed delivery can be re-driven; this one is ${refusal.deliveryState}.`,
        { extensions: { delivery: refusal.deliveryState } },
      );
    default: {
      const unmapped: never = refusal;
      throw new Error(`unmapped refusal ${JSON.stringify(unmapped)}`);
    }
  }
}
