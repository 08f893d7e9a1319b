
m"synthetic-decayR