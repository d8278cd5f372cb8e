"""Every metric of DESIGN.md, its kernels for many labels and chunked top-k metrics (numpy)."""
