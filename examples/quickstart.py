"""A minimal search from Python: 8 genomes x 4 generations of the cnn space on generated lesion images (~2 minutes on
2 CPU cores). Run it from the repository root: python examples/quickstart.py"""
import nas
from search_spaces import cnn

data = nas.data.synthetic_lesions(n=1000, image_size=32, seed=0)
run = nas.evolve(
    space=cnn.SPACE,
    data=data,
    population=8,
    generations=4,
    objectives=("val_accuracy",),
    budget=nas.Budget(epochs=2),
    initial=[cnn.TABLE1],          # start from the paper's Table-1 network (repaired to fit 32x32 inputs)
    run_dir="runs/quickstart",
    seed=0,
)
print("best genome:", run.best.genome)
print("validation accuracy:", run.best.metrics["val_accuracy"])
run.best.build().summary()
