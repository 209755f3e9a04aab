/** A request the helper will not carry out: answered with this reason, and nothing changed. */
export class Refusal extends Error {}

/** Refused under the policy, but an administrator may approve it: the answer lists what needs approval. */
export class NeedsApproval extends Refusal {
  constructor(
    message: string,
    readonly reasons: string[],
  ) {
    super(message)
  }
}
