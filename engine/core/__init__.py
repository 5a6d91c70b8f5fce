"""The run contract: the Recorder, seeding and versions, the manifest, atomic writes, threads, caches."""
