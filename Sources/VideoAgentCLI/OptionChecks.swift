import ArgumentParser

/// Checks of numeric options that the argument parser accepts but the command cannot use
/// (`inf`, `nan`, values that overflow a later conversion).
enum OptionChecks {
    /// A duration in seconds: positive, finite, at most about eleven days.
    static func seconds(_ value: Double, _ option: String) throws {
        guard value.isFinite, value > 0, value <= 1_000_000 else {
            throw ValidationError("\(option) must be a number of seconds above 0 and at most 1000000, not \(value)")
        }
    }

    static func finite(_ value: Float, _ option: String, in range: ClosedRange<Float>) throws {
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("\(option) must be a number from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
    }

    static func range(_ value: Int, _ option: String, _ range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) must be from \(range.lowerBound) to \(range.upperBound), not \(value)")
        }
    }
}
