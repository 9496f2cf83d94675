// swift-tools-version:6.2
import PackageDescription

// The Swift client of Switchboard, generated at build time by Apple's swift-openapi-generator from the service's own
// docs/openapi.yaml (Sources/SwitchboardClient/openapi.yaml is a symbolic link to it, so the two never drift).
// A package of its own, so the service's build does not grow by the generator.
let package = Package(
    name: "SwitchboardClient",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "SwitchboardClient", targets: ["SwitchboardClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "SwitchboardClient",
            dependencies: [
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
            ],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .testTarget(name: "SwitchboardClientTests", dependencies: ["SwitchboardClient"]),
    ]
)
