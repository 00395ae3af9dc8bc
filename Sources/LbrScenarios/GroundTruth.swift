// Model ground truth for a phase (hybrid/sim only), a cross-check never used to infer.

import LbrCore

/// Model ground truth for a phase (hybrid/sim only), kept for cross-checking.
public struct GroundTruth: Hashable, Sendable, Codable {
    /// Last `.vlbr` state reported in the phase.
    public var vlbr: VlbrState?
    /// Last `.passthrough` reported in the phase.
    public var passthrough: Bool?
    /// Whether the inferred state matches `vlbr` (active ⇔ active); nil when not comparable.
    public var agreesWithInference: Bool?
}
