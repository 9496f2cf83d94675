import Testing
import VaporTesting
@testable import SwitchboardCore
