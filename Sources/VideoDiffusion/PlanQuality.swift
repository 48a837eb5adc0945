import Foundation
import Media
import Tensor

/// Image similarity of generated frames to the true future.
public enum ImageMetrics {
    /// Peak signal-to-noise ratio in dB of two images with values in [0, 1].
    public static func psnr(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count && !a.isEmpty)
        var sum = 0.0
        for i in a.indices { let d = Double(a[i] - b[i]); sum += d * d }
        let mse = max(sum / Double(a.count), 1e-10)
        return 10 * log10(1 / mse)
    }

    /// Structural similarity (Wang et al. 2004) of two planar RGB images (3, side, side) in [0, 1]:
    /// means, variances and covariance over 7×7 windows (uniform), averaged over windows and channels.
    public static func ssim(_ a: [Float], _ b: [Float], side: Int) -> Double {
        let (c1, c2) = (0.01 * 0.01, 0.03 * 0.03)
        let window = min(7, side)
        var total = 0.0
        var count = 0
        for c in 0..<3 {
            let base = c * side * side
            for y in 0...(side - window) {
                for x in 0...(side - window) {
                    var (ma, mb) = (0.0, 0.0)
                    for dy in 0..<window { for dx in 0..<window {
                        let i = base + (y + dy) * side + x + dx
                        ma += Double(a[i]); mb += Double(b[i])
                    } }
                    let n = Double(window * window)
                    ma /= n; mb /= n
                    var (va, vb, cov) = (0.0, 0.0, 0.0)
                    for dy in 0..<window { for dx in 0..<window {
                        let i = base + (y + dy) * side + x + dx
                        let (da, db) = (Double(a[i]) - ma, Double(b[i]) - mb)
                        va += da * da; vb += db * db; cov += da * db
                    } }
                    va /= n - 1; vb /= n - 1; cov /= n - 1
                    total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                    count += 1
                }
            }
        }
        return total / Double(max(1, count))
    }
}

/// Plan quality on held-out clips: PSNR and SSIM of each generated frame against the true frame
/// at the same time, for the base sample and after each refinement iteration.
public struct PlanQualityReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        /// 0 = base sample, i = after i refinements.
        public var iteration: Int
        public var psnr: Double
        public var ssim: Double
        public var psnrStandardError: Double
        /// Mean per-clip PSNR change against the base sample of the same clip, and its standard
        /// error: the paired comparison that says whether refinement helps.
        public var psnrGain: Double
        public var psnrGainStandardError: Double
    }
    public var model: String
    public var clips: Int
    public var samplingSteps: Int
    public var rows: [Row]
}

public enum PlanQuality {
    /// Evaluates `model` on the first `limit` clips of `clips` (each from its episode's first frame).
    public static func evaluate(model: VideoUNet, name: String, clips: ClipSet, limit: Int, iterations: Int, samplingSteps: Int,
                                batchSize: Int = 8, seed: UInt64 = 0, progress: ((Int, Int) -> Void)? = nil) throws -> PlanQualityReport {
        var rng = SeededRNG(seed: seed)
        let sampler = PlanSampler(model: model, steps: samplingSteps)
        let keys = clips.evaluationKeys(limit: limit)
        var psnr = [[Double]](repeating: [], count: iterations + 1)
        var ssim = [[Double]](repeating: [], count: iterations + 1)
        let r = clips.resolution, f = clips.futureFrames, frameSize = 3 * r * r
        for chunk in stride(from: 0, to: keys.count, by: batchSize) {
            let part = Array(keys[chunk..<min(keys.count, chunk + batchSize)])
            let batch = clips.batch(part, rng: &rng)
            let tasks = try batch.tasks.map { try model.config.taskIndex($0) }
            let plans = sampler.planAndRefine(observation: batch.observation, tasks: tasks, iterations: iterations, rng: &rng)
            let truth = batch.future.toArray().map { ($0 + 1) / 2 }
            for (iteration, plan) in plans.enumerated() {
                let values = plan.toArray().map { ($0 + 1) / 2 }
                for row in 0..<part.count {
                    var rowPSNR = 0.0, rowSSIM = 0.0
                    for frame in 0..<f {
                        let range = ((row * f + frame) * frameSize)..<((row * f + frame + 1) * frameSize)
                        rowPSNR += ImageMetrics.psnr(Array(values[range]), Array(truth[range]))
                        rowSSIM += ImageMetrics.ssim(Array(values[range]), Array(truth[range]), side: r)
                    }
                    psnr[iteration].append(rowPSNR / Double(f))
                    ssim[iteration].append(rowSSIM / Double(f))
                }
            }
            progress?(min(keys.count, chunk + batchSize), keys.count)
        }
        func meanAndError(_ values: [Double]) -> (Double, Double) {
            let n = Double(values.count)
            let mean = values.reduce(0, +) / n
            let sd = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)).squareRoot()
            return (mean, sd / n.squareRoot())
        }
        let rows = (0...iterations).map { i -> PlanQualityReport.Row in
            let (mean, error) = meanAndError(psnr[i])
            let (gain, gainError) = meanAndError(zip(psnr[i], psnr[0]).map { $0 - $1 })
            return .init(iteration: i, psnr: mean, ssim: ssim[i].reduce(0, +) / Double(ssim[i].count), psnrStandardError: error,
                         psnrGain: gain, psnrGainStandardError: gainError)
        }
        return PlanQualityReport(model: name, clips: keys.count, samplingSteps: samplingSteps, rows: rows)
    }
}
