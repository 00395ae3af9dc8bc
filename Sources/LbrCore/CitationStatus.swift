// Whether a cited source has been confirmed: scenarios (`Scenario.citationStatus`) and kernel models
// (`KernelVariant.citationStatus`) say it beside their citation text, and the contract lists the unverified ones
// under its caveats.

/// Whether what a citation claims has been confirmed.
public enum CitationStatus: String, Hashable, Sendable, Codable, CaseIterable {
    /// The cited source says what the scenario or model relies on.
    case settled
    /// The citation marks a claim lbrprobe has not confirmed (its text says UNVERIFIED and what).
    case unverified
}
