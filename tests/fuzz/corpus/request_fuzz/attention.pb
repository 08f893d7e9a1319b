
m"mamba-attention"rollout"mamba-attributionZ	(JrawP