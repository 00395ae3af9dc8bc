/// Why a `GuestVM` could not be built: a failed system call, or KVM refusing the guest LBR set-up itself, which
/// callers report as "this host gives no guest LBR" rather than as a failure.
public enum GuestVMError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A system call or KVM request failed; its errno says why.
    case system(LinuxError)
    /// KVM did not set PERF_CAPABILITIES to the value it reports supported (host-initiated KVM_SET_MSRS set none
    /// of the one MSR, reference §2 step 2): it does not accept its own guest LBR format.
    case perfCapabilitiesRefused(value: UInt64)

    public var description: String {
        switch self {
        case let .system(e): return e.description
        case let .perfCapabilitiesRefused(v):
            return "KVM_SET_MSRS(PERF_CAPABILITIES=0x\(String(v, radix: 16))) refused (§2): KVM set 0 of 1 MSRs"
        }
    }

    /// Runs system calls; a failure is `.system`.
    static func system<R>(_ body: () throws(LinuxError) -> R) throws(GuestVMError) -> R {
        do { return try body() } catch { throw .system(error) }
    }
}
