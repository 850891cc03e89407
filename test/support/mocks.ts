/** What the mocked providers return as a resource's state: its inputs (no server-side defaults). */
export function mockState(_type: string, inputs: Record<string, unknown>): Record<string, unknown> {
    return inputs;
}
