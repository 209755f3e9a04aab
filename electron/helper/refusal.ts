/** A request the helper will not carry out: answered with this reason, and nothing changed. */
export class Refusal extends Error {}

