
m"synthetic-decay"synthetic-logit@HR%fff?