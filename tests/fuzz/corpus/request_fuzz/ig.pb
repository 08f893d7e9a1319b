
m"integrated-gradientsZ2riemannp