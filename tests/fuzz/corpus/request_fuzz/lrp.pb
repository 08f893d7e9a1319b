
m"	mamba-lrp"grad-x-inputZBno-silu,no-gate