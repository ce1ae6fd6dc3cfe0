// Pure Java, no Android imports: the same classes run in the app and in plain JUnit on any JDK.
plugins {
    `java-library`
}

tasks.withType<JavaCompile>().configureEach {
    // Java 8 API only, so nothing here needs more than Android minSdk 24 offers.
    options.release.set(8)
    options.compilerArgs.addAll(listOf("-Xlint:all", "-Xlint:-options"))
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    systemProperty("java.awt.headless", "true")
}
