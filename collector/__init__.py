"""The collector: receivers, reassembly, outputs."""
