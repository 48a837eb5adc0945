/// How far the hand is between two proprioception readings (x, y, z, opening), in metres: the
/// stall rule, the thinning of stalls in training data and the spacing of expert branches all ask it.
func handDistance(_ a: [Float], _ b: [Float]) -> Float {
    zip(a.prefix(3), b.prefix(3)).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
}
