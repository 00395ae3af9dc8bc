// The vLBR state the verdict engine infers from signals.

/// The vLBR state as inferred from signals (what a guest or host could actually see).
public enum InferredVlbr: String, Hashable, Sendable, Codable, CaseIterable {
    /// Guest LBR writes stick / MSRs passed through / host starved.
    case active
    /// ERROR, INACTIVE or no event: writes dropped, accesses trapped, "fail to passthrough LBR".
    case notActive = "not-active"
    /// The guest has no LBR at all (#GP on LBR MSRs, or the backend reports no guest LBR layout).
    case noLbr = "no-lbr"
    /// No signal in this phase.
    case unknown
}
