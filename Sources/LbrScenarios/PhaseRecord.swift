// What the runner recorded for one phase: the observations the verdict engine judges.

import LbrCore

/// What the runner recorded for one phase.
public struct PhaseRecord: Hashable, Sendable, Codable {
    public var phase: String
    public var observations: [TimedObservation]
    /// Steps of this phase that completed.
    public var stepsCompleted: Int
    public var startNs: UInt64
    public var endNs: UInt64
    /// `observations.count` after each completed step (step k's observations are
    /// `observations[stepEnds[k-1]..<stepEnds[k]]`); nil when the producer did not record step boundaries.
    /// Used by the timeline to draw timed steps.
    public var stepEnds: [Int]?
    public init(phase: String, observations: [TimedObservation], stepsCompleted: Int, startNs: UInt64, endNs: UInt64,
                stepEnds: [Int]? = nil) {
        self.phase = phase; self.observations = observations; self.stepsCompleted = stepsCompleted
        self.startNs = startNs; self.endNs = endNs; self.stepEnds = stepEnds
    }
}
