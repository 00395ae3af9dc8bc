// The payload's code range for the hw backend's host-branch-leak detector (issue 9): the real guest runs the
// same payload at the same identity-mapped addresses as hybrid, so LBR entries it reads outside this range are
// host records. Kept apart from HwBackend*.swift (another stream owns those files).
import LbrLinux
import LbrScenarios

extension HwBackend {
    public var guestCodeRanges: [Range<UInt64>]? { [GuestPayload.range] }
}
