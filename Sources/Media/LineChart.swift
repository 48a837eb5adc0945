/// A small line chart drawn into an image: series over integer x positions, a frame, tick labels
/// and a legend, in the contact sheets' bitmap font.
public enum LineChart {
    public struct Series {
        public var name: String
        public var color: (UInt8, UInt8, UInt8)
        public var values: [Double]
        public init(name: String, color: (UInt8, UInt8, UInt8), values: [Double]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    public static func draw(title: String, xLabel: String, series: [Series], width: Int = 420, height: Int = 260) -> RGBImage {
        var image = RGBImage(width: width, height: height, color: (250, 250, 250))
        let (left, right, top, bottom) = (46, width - 12, 22, height - 44)
        let all = series.flatMap(\.values)
        guard let low = all.min(), let high = all.max() else { return image }
        let pad = max((high - low) * 0.1, 1e-3)
        let (y0, y1) = (low - pad, high + pad)
        let count = max(2, series.map(\.values.count).max() ?? 2)
        func px(_ i: Int) -> Int { left + (right - left) * i / (count - 1) }
        func py(_ v: Double) -> Int { bottom - Int(Double(bottom - top) * (v - y0) / (y1 - y0)) }
        BitmapFont.draw(title, into: &image, x: left, y: 6, color: (20, 20, 20))
        for x in left...right { image[x, bottom] = (60, 60, 60) }
        for y in top...bottom { image[left, y] = (60, 60, 60) }
        for i in 0..<count {
            BitmapFont.draw(String(i), into: &image, x: px(i) - 2, y: bottom + 5, color: (40, 40, 40))
        }
        BitmapFont.draw(xLabel, into: &image, x: left, y: bottom + 16, color: (40, 40, 40))
        for k in 0...3 {
            let v = y0 + (y1 - y0) * Double(k) / 3
            let y = py(v)
            for x in stride(from: left, to: right, by: 3) { image[x, y] = (200, 200, 200) }
            let text = String(Double(Int((v * 100).rounded())) / 100)
            BitmapFont.draw(text, into: &image, x: 2, y: y - 3, color: (40, 40, 40))
        }
        for (s, line) in series.enumerated() {
            for i in 0..<(line.values.count - 1) {
                segment(&image, px(i), py(line.values[i]), px(i + 1), py(line.values[i + 1]), line.color)
            }
            for (i, v) in line.values.enumerated() {
                for dy in -2...2 { for dx in -2...2 { plot(&image, px(i) + dx, py(v) + dy, line.color) } }
            }
            let legendY = bottom + 16 + 9 * (s + 1) - 9
            BitmapFont.draw(line.name, into: &image, x: width / 2, y: legendY, color: line.color)
        }
        return image
    }

    private static func plot(_ image: inout RGBImage, _ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
        if x >= 0 && x < image.width && y >= 0 && y < image.height { image[x, y] = color }
    }

    private static func segment(_ image: inout RGBImage, _ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: (UInt8, UInt8, UInt8)) {
        let steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        for i in 0...steps {
            let x = x0 + (x1 - x0) * i / steps, y = y0 + (y1 - y0) * i / steps
            plot(&image, x, y, color)
            plot(&image, x, y + 1, color)
        }
    }
}
