// Options of a run.

/// Options of a run.
public struct RunOptions: Hashable, Sendable {
    public var cpu: Int
    public var repeats: Int
    /// Per scenario run.
    public var timeoutNs: UInt64
    /// `uname -r` of the host (or whatever the caller wants reported).
    public var kernelRelease: String
    /// `RunReport.selection`.
    public var selection: AutoSelection?
    public var expectFile: String?
    // Copied into the report (the CLI fills them from the clock and the HostProbe profile).
    public var runId: String
    public var host: HostIdentity?

    public init(cpu: Int = 0, repeats: Int = 1, timeoutNs: UInt64 = 45_000_000_000, kernelRelease: String,
                selection: AutoSelection? = nil, expectFile: String? = nil,
                runId: String = RunId.unset, host: HostIdentity? = nil) {
        self.cpu = cpu; self.repeats = max(1, repeats); self.timeoutNs = timeoutNs
        self.kernelRelease = kernelRelease; self.selection = selection; self.expectFile = expectFile
        self.runId = runId; self.host = host
    }
}
